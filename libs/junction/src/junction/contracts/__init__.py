"""What services say to each other, as types both sides import.

- `common`: identifiers, line items, order lines.
- `catalogue`: streams, subjects, and which service consumes which event.
- `events`: one model per integration event, the envelope they share, and their parser.
- `orders`, `inventory`, `payments`: the requests and answers of each service's HTTP API.
- `errors`: refusals that travel from one service to another.
- `asyncapi`: the event catalogue as an AsyncAPI 3.0 document.
"""
