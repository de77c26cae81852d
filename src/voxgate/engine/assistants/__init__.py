"""What answers the user: the ``Responder`` protocol, the echo assistant and a Chat Completions client."""
