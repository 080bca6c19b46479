"""Alert notifications that explain themselves (`finsent notify`): Alertmanager's webhook in, each
firing ticker alert with its top headlines from the query API, one message out. `message` decides
what a message says (pure), `server` fetches, forwards and serves (aiohttp)."""
