"""The instant path: one decoder trained to invert the encoder turns transformed features into pixels."""
