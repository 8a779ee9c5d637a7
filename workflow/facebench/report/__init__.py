"""The report: tables and figures from metrics files, rendered by jinja2 into one self-contained HTML page."""
