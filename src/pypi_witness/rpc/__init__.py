"""The gRPC adapter: generated code (gen/), pb <-> value conversion, the one
error -> status table, the trio <-> thread bridge, servicers and clients."""
