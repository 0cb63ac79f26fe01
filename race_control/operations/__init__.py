"""Every user action as one Qt-free coroutine: validate, lock, one unit of work, notify.

The API handlers (``display_server/api.py``) and the Qt pages (``ui/``) are thin callers
of ``Operations``; neither repeats a side effect.  See ``actions.py``.
"""
