"""Operations as code: the alert rules and Grafana dashboards in `deploy/`, generated here."""
