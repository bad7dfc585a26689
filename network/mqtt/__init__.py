"""The events bridge (issue 12): a network's blocks, transaction statuses, chaincode events
and governance events published to an MQTT broker, and MQTT messages submitted as
transactions.

One module per concept: ``topics`` (names), ``payloads`` (the JSON of every message),
``checkpoint`` (what has been published, durably), ``deliver`` and ``governance`` (where
events come from), ``ingress`` (MQTT → submit), ``bridge`` (the process that joins them),
``config`` (its YAML), ``broker`` (talking to Mosquitto). The wire contract is
``docs/events.md``.
"""
