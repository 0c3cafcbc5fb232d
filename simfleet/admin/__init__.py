"""The admin server: HTTP API, web page, WebSocket fan-out and Prometheus metrics of a fleet."""
