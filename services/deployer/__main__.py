"""`python -m services.deployer`: the same as `jan-models deployer`."""

from services.deployer.app import run

if __name__ == "__main__":
    run()
