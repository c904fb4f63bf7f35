"""Where models live: the sealed bundle, the registry of versions, the experiment log."""
