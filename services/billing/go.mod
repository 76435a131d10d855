module github.com/mailferry/mailferry/services/billing

go 1.26
