"""`python -m services.deployer`: the same as `jan-models deployer`."""

from services.deployer.serve import serve

if __name__ == "__main__":
    serve()
