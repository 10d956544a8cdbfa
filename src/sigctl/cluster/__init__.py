"""Many-image training (``sigctl train-many``): a job file, one artifact per image, local or Ray executors."""
