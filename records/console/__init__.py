"""The web console: pages rendered on the server from Jinja templates over the same services,
guards and access log as the API (issue 16). ``records.console.app`` wires it into the app."""
