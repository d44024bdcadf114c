"""`python -m services.inventory`: the same as `jan-models inventory`."""

from services.inventory.app import run

if __name__ == "__main__":
    run()
