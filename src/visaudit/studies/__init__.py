"""Studies: probes on datasets over a list of models, ending in a correlation table (see :mod:`.definition`)."""

from visaudit.studies.definition import Study, load_study, parse_study, study_names

__all__ = ["Study", "load_study", "parse_study", "study_names"]
