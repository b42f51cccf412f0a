"""Applications: the mobile apps registered in the server, each with its credential."""
