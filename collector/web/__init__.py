"""The analysts' read-only web view: templates, static files and the search behind it (routes: api/routes/web.py)."""
