module github.com/mailferry/mailferry/services/discovery

go 1.26
