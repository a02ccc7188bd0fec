"""mailfleet: shared clients and helpers used by the inventory plugin, the Ansible modules and the app."""
