"""The user's side of the Twi speech-recognition product: CLI, offline local stack, client."""
