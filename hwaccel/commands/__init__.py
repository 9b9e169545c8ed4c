"""One module per CLI command; each ``run(args)`` returns ``(json_report, text_report)``."""
