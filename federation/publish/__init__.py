"""Self-serve data products: a domain's owners publish a governed query as a product of
their own (:mod:`.publisher`), refresh it on a schedule (:mod:`.refresh`), move its
contract through draft → active → deprecated → retired (:mod:`.lifecycle`), and anyone
sees what depends on what across the mesh (:mod:`.graph`)."""
