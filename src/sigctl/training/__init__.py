"""Training: networks only training needs, losses, recipes, the stage loop and checkpoints."""
