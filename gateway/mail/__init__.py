"""Outgoing e-mail: the queue written with the change that causes a message, the rendered
messages (plain text and HTML), the SMTP sender and the deliverer that runs in every serving
process."""
