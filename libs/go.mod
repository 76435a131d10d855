module github.com/mailferry/mailferry/libs

go 1.26
