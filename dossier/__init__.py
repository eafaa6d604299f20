"""Dossier: the evidence for incident postmortems, drafted from the telemetry itself."""

from dossier.errors import ConfigError, DossierError, ExitCode
from dossier.model import Dossier, Event, Evidence, Incident, Series

__all__ = ["ConfigError", "Dossier", "DossierError", "Event", "Evidence", "ExitCode", "Incident", "Series"]
__version__ = "0.1.0"
