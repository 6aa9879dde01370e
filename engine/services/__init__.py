"""The service layer: one class per resource, one method per use case, one transaction each."""
