"""The three ways the stack gets its Kestra, behind one contract (`contract.KestraRuntimeOutputs`).

- `docker`: Kestra + Postgres in Docker on this machine (the gcp and local profiles);
- `gke`: Kestra on GKE with Cloud SQL and an HTTPS endpoint (the gke profile);
- `external`: an existing Kestra at `kestraUrl`.

`__main__.py` picks one; the flows' deployment and the stack outputs see only the contract.
"""
