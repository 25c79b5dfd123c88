"""Serving: `tunesmith serve` (HTTP analyzer + OpenAI-compatible chat, batched on one model thread), `ci-report` and
`ci-fetch`.

Import `tunesmith.serve.app.create_app` for the app; this package file stays empty so the CLI table loads fast.
"""
