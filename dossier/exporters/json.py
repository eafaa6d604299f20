"""Exporter `json`: `dossier.json`, the machine-readable draft (schema dossier/v1)."""

from __future__ import annotations

import json
from typing import ClassVar

from dossier.codec import dossier_to_dict
from dossier.model import Dossier
from dossier.plugin import Exporter


class JsonExporter(Exporter):
    format: ClassVar[str] = "json"
    filename: ClassVar[str] = "dossier.json"

    def render(self, dossier: Dossier) -> str:
        return json.dumps(dossier_to_dict(dossier), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
