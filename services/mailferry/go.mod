module github.com/mailferry/mailferry/services/mailferry

go 1.26
