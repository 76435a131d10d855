module github.com/mailferry/mailferry/services/telemetry

go 1.26
