"""trio orchestration: ``run_node`` owns everything a node runs; ``serve_main`` runs it as a process."""
