"""`hznctl health`: probe every Redis connection concurrently, grade, report, notify.

Modules: ``keyschemes`` (where each runtime keeps its queues), ``targets`` (what to probe,
credentials decrypted), ``resp`` (a RESP client whose every reply is bounded), ``probe``
(one connection, one deadline), ``grading`` (thresholds
to a status), ``runner`` (all connections, bounded concurrency and deadline), ``model``
(the report), ``reports`` (JSON, JUnit, Markdown, Prometheus, HTML), ``history``
(JSON lines, transitions), ``notify`` (webhooks on transitions).
"""
