"""The investigation of an incident: findings drawn from whatever evidence was loaded (``ob.investigate``)."""
