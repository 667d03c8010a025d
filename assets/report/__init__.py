"""The report that leaves the server: rendering, export bundle, output-control scanner."""
