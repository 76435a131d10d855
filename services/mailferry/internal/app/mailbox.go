package app

import "github.com/mailferry/mailferry/libs/platform"

func memoryMailbox(addr, name string) platform.Mailbox {
	return platform.Mailbox{PrimaryAddress: addr, DisplayName: name}
}
