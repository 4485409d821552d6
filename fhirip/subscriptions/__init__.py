"""FHIR R4 Subscriptions that tell the people around a plan when it changes — and only what they
may see: the write rules (`rules`), the outbox kept in every write transaction (`outbox`), the
owner a notification is decided for (`owner`), the notification Bundles (`notification`) and the
background deliverer (`deliverer`)."""
