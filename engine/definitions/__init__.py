"""Process definitions: parse and validate BPMN/DMN/form files, deploy them as versions.

- `bundle`: a set of files and the shape of a problem report;
- `parsing`: SpiffWorkflow's parsers (spiff-arena and Camunda 7 dialects) over a bundle;
- `checks`: what the parsers do not check (sandboxed expressions, forms, lanes);
- `metadata`: what the service needs to know about each user task;
- `repository`: versions in the database and the in-memory spec cache.
"""
