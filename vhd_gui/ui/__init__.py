"""The Qt window (docs/ARCHITECTURE.md#the-window): the only package that imports PySide6.

It renders the engine's events and sends the user's intents to the store; it holds no
protocol logic of its own.
"""
