"""The spec: what a user asks for (``model``), parsed from YAML with errors that name the
file, line and field (``loader``); a service's options (``service``); shared parsers (``base``)."""
