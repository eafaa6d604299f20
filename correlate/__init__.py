"""Pure, deterministic correlation of collected evidence into a draft.

No I/O, no clock, no environment, no randomness, no logging: the same evidence, in any order,
gives the same `Dossier`. Modules: `onsets` (when a series went wrong), `anomalies` (onsets as
events), `alerts` (the alert review), `gaps` (detection gaps), `causes` (ranked changes),
`timeline` (phases), and `draft`, which runs them in that order.
"""

from correlate.draft import draft

__all__ = ["draft"]
