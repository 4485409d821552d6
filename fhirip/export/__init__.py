"""Bulk Data export (`$export`) and the reads it shares with `Patient/[id]/$everything`.

https://hl7.org/fhir/uv/bulkdata/STU2/export.html

A kick-off stores a job (`jobs`); a runner process per server (`runner`) works through it in
chunks, each read through the caller's own search (`sweeps`: the access policy in the SQL, the
masked view applied, the scopes as upper bound) from the snapshot taken at kick-off, and appended
to NDJSON files (`files`) whose sizes are committed with the job's cursor, so a job killed mid-way
resumes where its last chunk ended.
"""
