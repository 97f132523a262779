"""The campaign pages (GET /campaigns, GET /campaigns/{id}): server-rendered HTML with
inline SVG charts, no JavaScript; routes.py (auth, data), render.py (HTML), chart.py
(SVG), info.py (status, trigger, next run)."""
