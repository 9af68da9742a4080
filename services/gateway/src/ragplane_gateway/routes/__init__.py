"""The gateway's routers, one module per area; ``app.create_app`` includes each."""
