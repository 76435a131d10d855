module github.com/mailferry/mailferry/services/project

go 1.26
