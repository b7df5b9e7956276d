"""Reports: render results.json and history.jsonl into a self-contained HTML page."""
