"""Pure core: credentials, session policy and identity helpers. No I/O, no web framework."""
