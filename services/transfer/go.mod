module github.com/mailferry/mailferry/services/transfer

go 1.26
