"""`python -m services.inventory`: the same as `jan-models inventory`."""

from services.inventory.app import main

if __name__ == "__main__":
    main()
