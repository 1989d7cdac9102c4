"""Real-time events: Socket.IO namespace ``/tasks`` and a thread-safe emitter."""
